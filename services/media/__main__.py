from services.media.app import build

build().run()
