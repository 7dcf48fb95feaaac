"""``host bench``: the matrix of modes x backends on devices, each cell isolated and stored at once."""
