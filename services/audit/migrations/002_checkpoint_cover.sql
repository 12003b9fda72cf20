-- With each signed checkpoint the writer also stores the perfect cover of [0, size), leaves
-- and low levels included, so `verify` can authenticate stored nodes against the signed root
-- and locate a rewrite inside a checkpoint interval (issue 13). Level 0 becomes allowed.
ALTER TABLE {schema}.tree_node DROP CONSTRAINT IF EXISTS tree_node_level_check;
ALTER TABLE {schema}.tree_node ADD CONSTRAINT tree_node_level_check CHECK (level >= 0);
