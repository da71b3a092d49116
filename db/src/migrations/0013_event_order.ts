import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Event ids from a counter that commits in order on every node of a cluster:
 * `change_event_log.last_event_id`, the highest event id handed out. A writer of events advances it
 * with an UPDATE in the event's transaction and gives its events the ids after the old value (not
 * the auto-increment, whose values from two Galera nodes commit out of order). The UPDATE holds
 * the row until the commit on one server, and is certified by Galera across nodes, so ids commit
 * in increasing order: a subscriber that follows them by id misses none.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.addColumn('change_event_log', 'last_event_id', {
    type: DataTypes.INTEGER,
    allowNull: false,
    defaultValue: 0,
  });
  await qi.sequelize.query(
    'UPDATE change_event_log SET last_event_id = (SELECT COALESCE(MAX(id), 0) FROM change_events) WHERE id = 1',
  );
}

/** Drops the counter (ids come from the auto-increment again). */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.removeColumn('change_event_log', 'last_event_id');
}
