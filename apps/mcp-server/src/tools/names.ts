/** The demo database tools' names, for what must know them without starting the SQL workers (the admin CLI). */
export const DEMO_TOOL_NAMES: readonly string[] = Object.freeze(['list_tables', 'describe_table', 'query', 'execute_sql', 'delete_users', 'drop_table']);
