output "bucket_name" {
  description = "Name of the chunk bucket."
  value       = aws_s3_bucket.chunks.bucket
}

output "bucket_arn" {
  description = "ARN of the chunk bucket."
  value       = aws_s3_bucket.chunks.arn
}

output "key_prefix" {
  description = "Key prefix of the chunk objects."
  value       = var.key_prefix
}

output "queue_url" {
  description = "URL of the chunk notification queue."
  value       = aws_sqs_queue.chunks.id
}

output "queue_arn" {
  description = "ARN of the chunk notification queue."
  value       = aws_sqs_queue.chunks.arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.id
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}
