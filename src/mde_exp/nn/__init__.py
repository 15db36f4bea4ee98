"""Plain nn.Modules and functions that the book's models share."""
