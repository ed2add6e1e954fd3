TALK "no end
