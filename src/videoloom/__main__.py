from videoloom.cli.main import main

main()
