-- Hostile on purpose: reaches outside its sandbox. The writer's role owns
-- its sandbox and nothing else, so PostgreSQL refuses it.
CREATE DATABASE idemcheck_hostile;
