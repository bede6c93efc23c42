variable "bucket_name" {
  description = "Name of the S3 bucket that holds the chunk objects."
  type        = string
}

variable "queue_name" {
  description = "Name of the SQS queue receiving the ObjectCreated notifications (the DLQ gets a -dlq suffix)."
  type        = string
}

variable "key_prefix" {
  description = "Key prefix of the chunk objects; only objects under it notify the queue (no trailing slash)."
  type        = string
  default     = "chunks"
}

variable "source_prefix" {
  description = "Key prefix of a bucket source of raw documents (no trailing slash), or null for none: created and removed objects under it notify the queue."
  type        = string
  default     = null
}

variable "max_receive_count" {
  description = "Receives before a message moves to the dead-letter queue."
  type        = number
  default     = 20
}

variable "kms_key_arn" {
  description = "KMS key for bucket encryption; null uses SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted chunk object version is kept before it expires."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "visibility_timeout_seconds" {
  description = "Visibility timeout of the chunk queue."
  type        = number
  default     = 300
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
