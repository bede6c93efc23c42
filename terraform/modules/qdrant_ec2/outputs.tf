output "private_ip" {
  description = "Private IP of the Qdrant instance (HTTP 6333, gRPC 6334)."
  value       = aws_instance.qdrant.private_ip
}

output "instance_id" {
  description = "ID of the Qdrant instance."
  value       = aws_instance.qdrant.id
}

output "role_arn" {
  description = "IAM role of the instance."
  value       = aws_iam_role.qdrant.arn
}
