variable "name" {
  description = "Name prefix of the security groups."
  type        = string
}

variable "vpc_id" {
  description = "VPC the security groups belong to."
  type        = string
}

variable "vpn_client_cidr" {
  description = "CIDR allowed to reach the bastion's OpenVPN port (the clients' public addresses)."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpn_client_cidr, 0)) && var.vpn_client_cidr != "0.0.0.0/0"
    error_message = "vpn_client_cidr must be a valid CIDR narrower than 0.0.0.0/0."
  }
}

variable "vpn_pool_cidr" {
  description = "Address pool OpenVPN assigns to connected clients (allowed to SSH to the bastion)."
  type        = string
  default     = "172.27.224.0/20"

  validation {
    condition     = can(cidrhost(var.vpn_pool_cidr, 0)) && var.vpn_pool_cidr != "0.0.0.0/0"
    error_message = "vpn_pool_cidr must be a valid CIDR narrower than 0.0.0.0/0."
  }
}

variable "vpn_port" {
  description = "UDP port of OpenVPN on the bastion."
  type        = number
  default     = 1194
}

variable "tags" {
  description = "Tags added to every resource."
  type        = map(string)
  default     = {}
}
