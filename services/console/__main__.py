from services.console.app import build, check_secret
from services.console.settings import ConsoleSettings

settings = ConsoleSettings()
check_secret(settings)  # refuse to start with a default or empty SESSION_SECRET (issue 11)
build(settings).run()
