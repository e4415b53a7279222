import { Migration } from '@mikro-orm/migrations';

export class Migration20261126110517 extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`mail_outbox\` (\`id\` text not null, \`message_id\` text not null, \`recipient\` text not null, \`template\` text not null, \`payload\` text null, \`status\` text not null, \`attempts\` integer not null, \`next_attempt_at\` datetime not null, \`claimed_until\` datetime null, \`last_error\` text null, \`created_at\` datetime not null, \`sent_at\` datetime null, \`failed_at\` datetime null, primary key (\`id\`));`);
    this.addSql(`create unique index \`mail_outbox_message_id_unique\` on \`mail_outbox\` (\`message_id\`);`);
    this.addSql(`create index \`mail_outbox_failed_at_index\` on \`mail_outbox\` (\`failed_at\`);`);
    this.addSql(`create index \`mail_outbox_sent_at_index\` on \`mail_outbox\` (\`sent_at\`);`);
    this.addSql(`create index \`mail_outbox_status_next_attempt_at_index\` on \`mail_outbox\` (\`status\`, \`next_attempt_at\`);`);
  }

}
