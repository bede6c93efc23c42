variable "name" {
  description = "Name prefix of the bastion resources."
  type        = string
}

variable "public_subnet_id" {
  description = "Public subnet of the bastion."
  type        = string
}

variable "security_group_id" {
  description = "The bastion security group (from the security_groups module)."
  type        = string
}

variable "ami_id" {
  description = "AMI of the bastion (Amazon Linux 2023)."
  type        = string
}

variable "instance_type" {
  description = "Instance type."
  type        = string
  default     = "t3.micro"
}

variable "key_name" {
  description = "EC2 key pair for SSH over the VPN; null for none."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR of the VPC, pushed to VPN clients as a route."
  type        = string
}

variable "vpn_pool_cidr" {
  description = "Address pool OpenVPN assigns to clients (same as in the security_groups module)."
  type        = string
  default     = "172.27.224.0/20"
}

variable "vpn_port" {
  description = "UDP port of OpenVPN."
  type        = number
  default     = 1194
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
