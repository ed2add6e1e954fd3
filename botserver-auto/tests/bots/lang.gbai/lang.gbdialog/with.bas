' WITH builds an object, and extends it when it exists.
WITH person
  name = "Ana"
  .age = 30
END WITH
WITH person
  city = "Rio"
  age = person.age + 1
END WITH
TALK TOJSON(person)
TALK person.name + " is " + person.age
