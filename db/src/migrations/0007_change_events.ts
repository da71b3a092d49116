import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Change events (`change_events`): one row per committed create or update of a doctor, patient,
 * check-up, note or job status, written in the transaction of the change, which subscribers of
 * `events.onChange` follow by id. `fields` holds the names of the fields a change touched (JSON),
 * never their values. `change_event_log` is one row (id 1): `pruned_through`, the highest id the
 * retention job has deleted (a client resuming from an older id must refetch), and on MySQL the
 * lock every writer of events takes, so that events commit in id order.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('change_events', {
    id: { type: DataTypes.INTEGER, autoIncrement: true, primaryKey: true, allowNull: false },
    type: { type: DataTypes.STRING(48), allowNull: false },
    entity_id: { type: DataTypes.INTEGER, allowNull: false },
    patient_id: { type: DataTypes.INTEGER, allowNull: true },
    fields: { type: DataTypes.STRING(1000), allowNull: true },
    created_at: { type: DataTypes.DATE(3), allowNull: false },
  });
  // Retention: the oldest events first.
  await qi.addIndex('change_events', ['created_at'], { name: 'change_events_created_at' });
  // A resume filtered to one patient.
  await qi.addIndex('change_events', ['patient_id', 'id'], { name: 'change_events_patient_id' });
  await qi.createTable('change_event_log', {
    id: { type: DataTypes.INTEGER, primaryKey: true, allowNull: false },
    pruned_through: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
  });
  await qi.bulkInsert('change_event_log', [{ id: 1, pruned_through: 0 }]);
}

/** Drops the events and their log. */
export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('change_event_log');
  await qi.dropTable('change_events');
}
