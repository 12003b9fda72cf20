from demo.simulator.fleet import main

main()
