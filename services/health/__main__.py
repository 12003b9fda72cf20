from services.health.app import build

build().run()
