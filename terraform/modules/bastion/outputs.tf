output "public_ip" {
  description = "Elastic IP of the OpenVPN endpoint."
  value       = aws_eip.bastion.public_ip
}

output "private_ip" {
  description = "Private IP of the bastion."
  value       = aws_instance.bastion.private_ip
}

output "instance_id" {
  description = "ID of the bastion instance."
  value       = aws_instance.bastion.id
}
