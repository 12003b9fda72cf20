-- One role vocabulary (issue 8, cctv.contract.orgs.Role): notices addressed to a role use the
-- account role names the inbox asks with. Requests stored as JSON load old names through
-- Role._missing_.
UPDATE {schema}.notices SET to_role = 'dept_head' WHERE to_role = 'head';
UPDATE {schema}.notices SET to_role = 'school_leader' WHERE to_role = 'leader';
UPDATE {schema}.notices SET to_role = 'duty_operator' WHERE to_role = 'operator';
