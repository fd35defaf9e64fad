// tcpchat: the interactive chat client (built by SwiftPM as tcpchat-client). ClientCommand
// reads the command line; ChatLoop does the chatting.
ClientCommand.main()
