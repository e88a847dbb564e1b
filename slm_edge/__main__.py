from slm_edge.cli import main

main()
