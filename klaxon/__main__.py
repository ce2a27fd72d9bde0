from klaxon.cli import main

main()
