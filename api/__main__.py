"""C{python -m api}: the API daemon, configured from the environment."""

from api.service import make_service
from common.process import run

if __name__ == "__main__":
    run("api", make_service)
