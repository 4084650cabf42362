"""Counts a Maven run's tests from Surefire's XML reports (one <testsuite tests= failures= errors= skipped=>
per test class) in each folder given and prints "PASSED FAILED"; used by scripts/test-kotlin.sh and
scripts/test-app.sh."""
import glob
import sys
import xml.etree.ElementTree as ET

passed = failed = 0
for path in (p for folder in sys.argv[1:] for p in glob.glob(f"{folder}/TEST-*.xml")):
    suite = ET.parse(path).getroot()
    tests, bad = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    failed += bad
    passed += tests - bad - int(suite.get("skipped", 0))
print(passed, failed)
