from torbit.cli import main

main()
