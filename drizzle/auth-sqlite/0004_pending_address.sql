ALTER TABLE `pending_authorizations` ADD `address_key` text DEFAULT '' NOT NULL;--> statement-breakpoint
CREATE INDEX `pending_addr_idx` ON `pending_authorizations` (`address_key`,`created_at`);