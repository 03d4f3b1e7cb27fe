"""The local stack: the application of ``template.yaml`` on loopback, without Docker or an AWS account.

``python -m devstack.stack`` serves the HTTP API (as API Gateway would), delivers queue, S3
and schedule events to the functions, and stands in for Google's OAuth endpoints. See docs/local-stack.md.
"""
