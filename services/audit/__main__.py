from services.audit.app import build

build().run()
