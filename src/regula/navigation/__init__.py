"""Care navigation: the navigators' worklist and their contacts with citizens."""
