mock_provider "aws" {}

variables {
  name = "faro-test"
  azs  = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

run "three_azs_one_nat_per_az" {
  command = plan

  assert {
    condition     = length(aws_subnet.public) == 3 && length(aws_subnet.private) == 3
    error_message = "one public and one private subnet per AZ expected"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3
    error_message = "one NAT gateway per AZ expected"
  }

  assert {
    condition     = alltrue([for s in aws_subnet.public : s.map_public_ip_on_launch == false])
    error_message = "public subnets must not auto-assign public IPs"
  }

  assert {
    condition     = length(aws_route.private_nat) == 3
    error_message = "every private route table needs exactly one default route"
  }

  assert {
    condition     = aws_route.public_internet.destination_cidr_block == "0.0.0.0/0"
    error_message = "public route table must route 0.0.0.0/0 to the internet gateway"
  }

}

run "private_routes_target_nat_after_apply" {
  # With the mock provider, applied IDs are known: the NAT route target must be a NAT gateway ID and no
  # private route table may point at the internet gateway.
  command = apply

  assert {
    condition     = alltrue([for r in aws_route.private_nat : contains(aws_nat_gateway.this[*].id, r.nat_gateway_id)])
    error_message = "private routes must target this module's NAT gateways"
  }

  assert {
    condition     = alltrue([for r in aws_route.private_nat : r.gateway_id != aws_internet_gateway.this.id])
    error_message = "private route tables must not route to the internet gateway"
  }

  assert {
    condition     = !anytrue([for r in aws_route.private_nat : r.route_table_id == aws_route_table.public.id])
    error_message = "the NAT routes must not be in the public route table"
  }

  assert {
    condition     = alltrue([for r in aws_route.private_nat : r.destination_cidr_block == "0.0.0.0/0" && r.gateway_id == null])
    error_message = "private default routes must have no gateway_id (internet gateway), only a NAT gateway"
  }

  assert {
    condition     = alltrue([for a in aws_route_table_association.private : contains(aws_route_table.private[*].id, a.route_table_id)])
    error_message = "private subnets must only be associated with private route tables"
  }

  assert {
    condition     = aws_default_security_group.this.vpc_id == aws_vpc.this.id && length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "the VPC's default security group must be adopted with no rules"
  }
}

run "two_azs_single_nat" {
  command = plan

  variables {
    azs                = ["eu-west-1a", "eu-west-1b"]
    single_nat_gateway = true
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_route.private_nat) == 2
    error_message = "single_nat_gateway should create one NAT shared by both private route tables"
  }
}

run "rejects_one_az" {
  command = plan

  variables {
    azs = ["eu-west-1a"]
  }

  expect_failures = [var.azs]
}
