output "private_ip" {
  description = "Private IP of node 0 (HTTP 6333, gRPC 6334): a Collection's external.address."
  value       = aws_network_interface.node[0].private_ip
}

output "private_ips" {
  description = "Private IPs of every node, node 0 first: the others are a Collection's external.peerAddresses."
  value       = aws_network_interface.node[*].private_ip
}

output "instance_id" {
  description = "ID of node 0's instance."
  value       = aws_instance.qdrant[0].id
}

output "instance_ids" {
  description = "IDs of every node's instance."
  value       = aws_instance.qdrant[*].id
}

output "role_arn" {
  description = "IAM role of the instances."
  value       = aws_iam_role.qdrant.arn
}
