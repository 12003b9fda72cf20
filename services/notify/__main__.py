from services.notify.app import build

build().run()
