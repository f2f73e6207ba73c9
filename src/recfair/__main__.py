from recfair.cli import main

main()
