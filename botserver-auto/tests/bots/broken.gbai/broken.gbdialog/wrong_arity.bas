x = LEFT("abc")
