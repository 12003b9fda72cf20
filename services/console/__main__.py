from services.console.app import build

build().run()
