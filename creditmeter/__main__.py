from creditmeter.cli import main

main()
