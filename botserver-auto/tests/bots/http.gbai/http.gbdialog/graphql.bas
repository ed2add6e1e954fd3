' GRAPHQL posts the query and its variables.
r = GRAPHQL api + "/graphql", "query($id: Int) { user(id: $id) { name } }", { "id": 7 }
TALK r.data.user.name + " for " + r.query
