from minigan.experiments.runner import main

main()
