' A filter that does not parse is a compile error with its line.
rows = FIND "customers", "name = = 'Ana'"
