-- The basic-auth app's roles (RBAC): a role per (workspace, name), its permission rows on
-- resource patterns, and which users hold it. Deleting a role or a user takes its rows and
-- assignments along.
CREATE TABLE auth_roles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    workspace TEXT NOT NULL,
    description TEXT,
    UNIQUE (workspace, name)
);

CREATE TABLE auth_role_permissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    role_id INTEGER NOT NULL REFERENCES auth_roles(id) ON DELETE CASCADE,
    resource_type TEXT NOT NULL,
    resource_pattern TEXT NOT NULL,
    permission TEXT NOT NULL,
    UNIQUE (role_id, resource_type, resource_pattern)
);

CREATE TABLE auth_role_assignments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES auth_users(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES auth_roles(id) ON DELETE CASCADE,
    UNIQUE (user_id, role_id)
);
CREATE INDEX auth_role_assignments_role ON auth_role_assignments (role_id);
