CREATE TABLE `audit_anchors` (
	`chain` text PRIMARY KEY NOT NULL,
	`log` text NOT NULL,
	`seq` integer NOT NULL,
	`mac` text NOT NULL,
	`file` text NOT NULL,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `audit_anchors_log_idx` ON `audit_anchors` (`log`,`at`);