' The only good script of this package: a package with errors still installs it.
TALK "still works"
