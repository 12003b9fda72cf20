from services.ingest.app import build

build().run()
