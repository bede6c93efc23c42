variable "name" {
  description = "Identifier of the DB instance (also the prefix of the subnet and parameter groups)."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets for the DB subnet group."
  type        = list(string)
}

variable "security_group_id" {
  description = "The RDS security group (from the security_groups module)."
  type        = string
}

variable "engine_version" {
  description = "PostgreSQL engine version (pgvector needs 15.2+ or 16)."
  type        = string
  default     = "16.4"

  validation {
    condition     = tonumber(split(".", var.engine_version)[0]) >= 15
    error_message = "engine_version must be PostgreSQL 15 or newer (pgvector on RDS)."
  }
}

variable "instance_class" {
  description = "DB instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage" {
  description = "Initial storage in GiB."
  type        = number
  default     = 50
}

variable "max_allocated_storage" {
  description = "Upper bound for storage autoscaling in GiB."
  type        = number
  default     = 200
}

variable "db_name" {
  description = "Name of the initial database."
  type        = string
  default     = "faro"
}

variable "master_username" {
  description = "Master user name (its password is generated and kept in Secrets Manager by RDS)."
  type        = string
  default     = "faro_admin"
}

variable "backup_retention_period" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_period >= 7
    error_message = "backup_retention_period must be at least 7 days."
  }
}

variable "multi_az" {
  description = "Run a standby in a second AZ."
  type        = bool
  default     = true
}

variable "deletion_protection" {
  description = "Protect the instance from deletion."
  type        = bool
  default     = true
}

variable "kms_key_id" {
  description = "KMS key for storage and Performance Insights encryption; null uses the AWS managed key."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}

variable "read_replica" {
  description = "Create a read replica for the query service's searches (output read_endpoint)."
  type        = bool
  default     = false
}

variable "read_replica_instance_class" {
  description = "Instance class of the read replica; null: the primary's."
  type        = string
  default     = null
}
