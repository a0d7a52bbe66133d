"""matte"""
