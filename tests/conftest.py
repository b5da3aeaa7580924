import pathlib
import sys

# Lets test modules import the shared rule-case tables in tests/rule_cases/.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
