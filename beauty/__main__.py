from beauty.cli import main

main()
