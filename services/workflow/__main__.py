from services.workflow.app import build

build().run()
